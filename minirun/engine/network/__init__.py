"""The network room: how a container reaches the network.

Read it in this order (each module imports only those above it):

modes.py       what --network can be (none, host, bridge or a named one,
               slirp4netns, pasta), checked before anything is made; the
               room's error and the names every module shares
ports.py       -p/-P read as podman reads them, host ports claimed
claims.py      what several stores share as root: addresses and bridges
               claimed on the host
hosts.py       names: each container's /etc/hosts lists its neighbours
usernet.py     slirp4netns and pasta: a plain user's private network
rootlessnet.py the network namespace where a plain user's bridges live
nat.py         one nftables table per store: NAT out, published ports,
               networks kept apart
bridge.py      bridge networks: create, ls, inspect, rm, prune; leases
connect.py     one container connected before it starts (Links keep it
               up), and torn down after

It stands on the engine's base only.  The containers room checks a spec
with ``modes`` and ``ports``, calls ``connect.connect`` before a container
starts and ``connect.teardown`` after; the CLI's `network` group calls
``bridge``.  kernel/netlink (pyroute2's messages) is imported only inside
the functions that make or remove a device, so checking a container's
options loads no netlink code.
"""
