/**
 * The Node.js flags Midge is meant to run with: `npm start` and the Docker image (NODE_OPTIONS)
 * use them, and so does the benchmark. With V8's default young generation (16 MB per semi-space) an
 * idle broker's RSS is mostly that young generation; 8 MB cut the RSS of the first 1,000 idle
 * connections from about 20 MB to 3–6 MB with no fan-in throughput change measured. 4 MB cut the
 * RSS under fan-in QoS 0 from 117–120 to 76–77 MB and its CPU per message by about half (far less
 * short-lived data is caught alive by a scavenge and promoted), at the cost of about 1.7× the
 * CPU per delivery under fan-out QoS 0 (bench/README.md, *Memory: where it goes*). They are not in the `midge` command's shebang: `env -S` is missing from BusyBox
 * (Alpine) and the BSDs, and V8 reads the flag only at start-up, so the CLI cannot set it itself.
 */
export const NODE_FLAGS: readonly string[] = Object.freeze(['--max-semi-space-size=4']);
