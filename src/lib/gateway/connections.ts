import type { Server } from 'node:http'
import type { Socket } from 'node:net'

/** A client connection: how many requests it has open, and how many bytes had arrived when it went idle. */
export interface Conn<Ctx> {
  busy: number
  bytesAtIdle: number
  /** The gateway has sent FIN (drain or keep-alive timeout): a request arriving now cannot be answered. */
  ended: boolean
  /** The latest request's context, for a client error in its body. */
  ctx?: Ctx
}

/**
 * The gateway's client connections, for the drain (DESIGN §9): which are idle, so that each can be
 * closed cleanly, with a FIN and never a reset; and every TCP connection (for HTTPS also those still
 * in the TLS handshake), so that what is left at the drain deadline can be cut.
 */
export class Connections<Ctx> {
  /** By socket (the TLS socket for HTTPS): the connections HTTP requests arrive on. */
  private readonly conns = new Map<Socket, Conn<Ctx>>()
  private readonly raw = new Set<Socket>()
  /** Set by drain(): every answer from now on is its connection's last. */
  draining = false

  constructor(
    server: Server,
    tls: boolean,
    /** How long an idle connection may still bring a request once draining. */
    private readonly graceMs: number,
  ) {
    server.on('connection', (socket: Socket) => {
      socket.setNoDelay(true)
      this.raw.add(socket)
      socket.once('close', () => this.raw.delete(socket))
    })
    server.on(tls ? 'secureConnection' : 'connection', (socket: Socket) => {
      const conn: Conn<Ctx> = { busy: 0, bytesAtIdle: socket.bytesRead, ended: false }
      this.conns.set(socket, conn)
      socket.once('close', () => this.conns.delete(socket))
      if (this.draining) this.closeLater(socket, conn)
    })
    // Keep-alive timeout: Node would destroy the socket, resetting a request that is just arriving.
    server.on('timeout', (socket: Socket) => {
      const conn = this.conns.get(socket)
      if (conn && conn.busy === 0) this.closeIdle(socket, conn)
      else if (!conn) socket.destroy()
    })
  }

  get(socket: Socket): Conn<Ctx> | undefined {
    return this.conns.get(socket)
  }

  /** A request arrived on the socket: its connection is busy until the response closes. */
  opened(socket: Socket, ctx: Ctx): Conn<Ctx> | undefined {
    const conn = this.conns.get(socket)
    if (conn) {
      conn.busy++
      conn.ctx = ctx
    }
    return conn
  }

  /** A request's response closed: an idle connection, while draining, is closed after the grace period. */
  closed(socket: Socket): void {
    const conn = this.conns.get(socket)
    if (conn && --conn.busy === 0) {
      conn.bytesAtIdle = socket.bytesRead
      if (this.draining && socket.writable) this.closeLater(socket, conn)
    }
  }

  /**
   * Starts the drain: every connection idle now may still bring a request for the grace period,
   * then is closed; so is every TCP connection that has not become an HTTP one by then (a TLS
   * handshake that never finishes).
   */
  drain(): void {
    this.draining = true
    for (const [socket, conn] of this.conns) if (conn.busy === 0) this.closeLater(socket, conn)
    // A TLS connection still in its handshake has no HTTP connection yet, so closeIdle never sees
    // it: after the grace period, end every raw socket with no established connection on it (the
    // TLS socket shares its peer address and port).
    setTimeout(() => {
      const peer = (s: Socket) => `${s.remoteAddress}|${s.remotePort}`
      const established = new Set([...this.conns.keys()].map(peer))
      for (const socket of this.raw)
        if (!this.conns.has(socket) && !established.has(peer(socket))) socket.destroy()
    }, this.graceMs).unref()
  }

  /** The drain deadline: every connection left is cut. */
  cutAll(): void {
    for (const socket of this.raw) socket.destroy()
    for (const socket of this.conns.keys()) socket.destroy()
  }

  private closeLater(socket: Socket, conn: Conn<Ctx>): void {
    setTimeout(() => this.closeIdle(socket, conn), this.graceMs).unref()
  }

  /**
   * Closes an idle connection without a reset: FIN first (the client sees a clean close, and may
   * safely retry a request it had just sent), reading on until the client closes its side. A
   * connection that has received bytes since its last answer has a request arriving, which is
   * answered first (with `Connection: close` while draining).
   */
  private closeIdle(socket: Socket, conn: Conn<Ctx>): void {
    if (conn.ended || conn.busy > 0 || !socket.writable) return
    if (socket.bytesRead !== conn.bytesAtIdle) {
      // Partial request headers: they are answered, or closed by the header timeout.
      if (this.draining) this.closeLater(socket, conn)
      return
    }
    conn.ended = true
    socket.end()
    setTimeout(() => socket.destroy(), 2000).unref()
  }
}
