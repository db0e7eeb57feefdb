#!/usr/bin/env python3
"""Delay line: a userspace stand-in for `tc qdisc add dev X root netem delay D`.

Used by the verify benchmark (test/bench/link.ts) only where the kernel has no netem
(CONFIG_NET_SCH_NETEM unset, as on the firecracker kernels this project is developed on).

It opens one TUN device in each of two network namespaces that the benchmark created, and
copies every IP packet from one to the other after DELAY_MS, in both directions: the same
fixed one-way delay netem adds on each end of a veth pair, for every packet (TCP handshake
and ACKs included), with no loss and no reordering. Nothing leaves the two namespaces.

  delay-link.py NETNS_A DEV_A NETNS_B DEV_B DELAY_MS

Prints "ready" once both devices exist (the caller then gives them addresses), and runs until
its stdin closes or it gets SIGTERM.
"""
import ctypes
import fcntl
import heapq
import os
import selectors
import signal
import struct
import sys
import time

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000
CLONE_NEWNET = 0x40000000
MAX_PACKET = 65536

libc = ctypes.CDLL(None, use_errno=True)


def setns(fd):
    if libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def open_tun(netns, name):
    """A TUN device created inside the named network namespace (it stays there)."""
    own = os.open("/proc/self/ns/net", os.O_RDONLY)
    target = os.open(f"/run/netns/{netns}", os.O_RDONLY)
    try:
        setns(target)
        fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
        fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
        return fd
    finally:
        setns(own)
        os.close(own)
        os.close(target)


def main():
    ns_a, dev_a, ns_b, dev_b, delay_ms = sys.argv[1:6]
    delay = float(delay_ms) / 1000.0
    fd_a = open_tun(ns_a, dev_a)
    fd_b = open_tun(ns_b, dev_b)
    peer = {fd_a: fd_b, fd_b: fd_a}
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(True))

    sel = selectors.DefaultSelector()
    sel.register(fd_a, selectors.EVENT_READ)
    sel.register(fd_b, selectors.EVENT_READ)
    sel.register(sys.stdin, selectors.EVENT_READ)
    print("ready", flush=True)

    # (due time, sequence, destination fd, packet): the sequence keeps packets in order.
    queue = []
    seq = 0
    while not stop:
        now = time.monotonic()
        while queue and queue[0][0] <= now:
            _, _, dst, packet = heapq.heappop(queue)
            try:
                os.write(dst, packet)
            except OSError:
                pass  # a device that is down or full drops the packet, as a link would
        timeout = max(0.0, queue[0][0] - now) if queue else None
        for key, _ in sel.select(timeout):
            if key.fileobj is sys.stdin:
                if not sys.stdin.buffer.read1(4096):
                    stop.append(True)
                continue
            fd = key.fileobj
            while True:
                try:
                    packet = os.read(fd, MAX_PACKET)
                except BlockingIOError:
                    break
                seq += 1
                heapq.heappush(queue, (time.monotonic() + delay, seq, peer[fd], packet))


if __name__ == "__main__":
    main()
