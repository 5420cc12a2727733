/**
 * Switchboard client SDK: `connect()` for the signaling channel, `PeerMesh` for one
 * perfectly-negotiated RTCPeerConnection per remote peer. Runs in browsers and in Node.
 */
export {
  connect,
  SignalingClient,
  type ClientEvents,
  type ClientState,
  type CloseInfo,
  type ConnectOptions,
  type IceServer,
  type OutgoingMessage,
  type ReceivedMessage,
  type Timers,
  type WebSocketConstructor,
  type Welcome,
} from './signaling-client.js';
export { PeerMesh, type MeshEvents, type PeerMeshOptions, type RemotePeer } from './peer-mesh.js';
export {
  DEFAULT_BACKOFF,
  backoffDelay,
  isRetryable,
  type BackoffOptions,
} from './reconnect-policy.js';
export { Close } from '../src/close-codes.js';
export type { SignalMessage } from '../src/protocol/message.js';
