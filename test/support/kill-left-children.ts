import { afterAll } from "vitest";
import { killLeftChildren } from "./child-processes.js";

// A setup file: runs in every test file, after its own afterAll hooks.
afterAll(killLeftChildren);
