/**
 * Entry of the search worker when running from source or a compiled binary. (Inside the
 * single-file bundle there is no such file: the bundle itself is started as the worker.)
 */
import { runSearchWorker } from "./worker_main.ts";

runSearchWorker();
