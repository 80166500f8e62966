import { readdir, readFile, readlink } from 'node:fs/promises'

const portOf = (address: string) => parseInt(address.split(':')[1] ?? '', 16)

/**
 * Which of `pids` holds the IPv4 TCP socket with this local and remote port (Linux: the socket's
 * inode from /proc/net/tcp, then the process whose file descriptors include it), or undefined.
 * It tells which `--workers` process serves a client's connection.
 */
export async function socketOwner(
  localPort: number,
  remotePort: number,
  pids: number[],
): Promise<number | undefined> {
  const table = await readFile('/proc/net/tcp', 'utf8')
  const row = table
    .split('\n')
    .slice(1)
    .map((line) => line.trim().split(/\s+/))
    .find((f) => f.length > 9 && portOf(f[1]!) === localPort && portOf(f[2]!) === remotePort)
  if (!row || row[9] === '0') return undefined
  const target = `socket:[${row[9]}]`
  for (const pid of pids) {
    const fds = await readdir(`/proc/${pid}/fd`).catch(() => [] as string[])
    for (const fd of fds) {
      if ((await readlink(`/proc/${pid}/fd/${fd}`).catch(() => '')) === target) return pid
    }
  }
  return undefined
}
