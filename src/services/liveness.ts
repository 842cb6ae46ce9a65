/**
 * Which server nodes are alive now. Presence in a live session is recorded
 * with the node the participant's socket is on, and counts only while that
 * node is alive, so a node that dies (SIGKILL, lost host) leaves no ghosts.
 * A cluster implements it over Redis heartbeats (cluster/node-liveness.ts).
 */
export interface NodeLiveness {
  /** This node's id (the same one live-session placement uses). */
  readonly nodeId: string;
  /** The ones of nodeIds that are alive; this node always is. */
  alive(nodeIds: readonly string[]): Promise<Set<string>>;
}

/** One node on its own (no Redis): only this node is alive; any other node id is a previous run of it. */
export function localLiveness(nodeId: string): NodeLiveness {
  return { nodeId, alive: async (ids) => new Set(ids.filter((id) => id === nodeId)) };
}
