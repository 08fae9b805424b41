/**
 * The Node.js flags Midge is meant to run with: `npm start` and the Docker image (NODE_OPTIONS)
 * use them, and so does the benchmark. With V8's default young generation (16 MB per semi-space) an
 * idle broker's RSS is mostly that young generation; 8 MB cut the RSS of the first 1,000 idle
 * connections from about 20 MB to 3–6 MB with no fan-in throughput change measured (README,
 * Benchmarks). They are not in the `midge` command's shebang: `env -S` is missing from BusyBox
 * (Alpine) and the BSDs, and V8 reads the flag only at start-up, so the CLI cannot set it itself.
 */
export const NODE_FLAGS: readonly string[] = Object.freeze(['--max-semi-space-size=8']);
