/** Environment variable with the echo server's port, read by proxy-proc.ts. */
export const ECHO_PORT_ENV = 'JANUS_BENCH_ECHO_PORT';
