// Stands in, in the bundle only, for dockerode's ssh2, gRPC and protobuf modules: berth reaches the engine
// over a unix socket or TCP and builds without BuildKit sessions, so they never run, yet dockerode loads
// them at start-up (about 60 ms of every command). Anything that does call one gets a clear error.
const unused = () => {
  throw new Error(
    'berth is bundled without ssh2 and @grpc/*: ssh:// engines and BuildKit sessions are not supported',
  );
};
module.exports = new Proxy({}, { get: (_, key) => (key === '__esModule' ? false : unused) });
