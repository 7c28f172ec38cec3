# shellcheck shell=bash disable=SC2034  # NODE_ADDR and NODE_IFACE are the caller's
# Slurm helpers shared by jobs/simulate.sh and jobs/train.sh (sourced inside an allocation).
#
# choose_interface   on a job of several nodes, the network interface MPI's TCP transport, Horovod's Gloo and
#                    NCCL's bootstrap use: the one holding this node's Slurm address (NodeAddr), which is how
#                    the nodes reach each other (on clusters the address node names resolve to), not a
#                    container bridge or a virtual interface that only exists here. Each variable the user has
#                    set is kept: OMPI_MCA_btl_tcp_if_include (or _exclude), HOROVOD_GLOO_IFACE,
#                    NCCL_SOCKET_IFNAME. The name is exported to every task, so nodes must name it alike.
#                    Sets NODE_ADDR and NODE_IFACE (this node's address and interface) on one node too.
# failed_nodes       the nodes of this job that Slurm has marked down, failed or not responding.
# Needs say() from the caller.

choose_interface() {
    local node addr iface
    node="$(hostname -s)"
    addr="$(scontrol show node "$node" 2>/dev/null | sed -n 's/.*NodeAddr=\([^ ]*\).*/\1/p')"
    if [ -n "$addr" ] && ! [[ "$addr" =~ ^[0-9.]+$ ]]; then
        addr="$(getent ahostsv4 "$addr" | awk 'NR == 1 {print $1}')"
    fi
    if [ -z "$addr" ]; then
        say "network: cannot find this node's Slurm address; MPI, Gloo and NCCL choose their interfaces themselves"
        return 0
    fi
    iface="$(ip -o -4 addr show 2>/dev/null | awk -v a="$addr" '{split($4, p, "/"); if (p[1] == a) print $2}' | head -1)"
    if [ -z "$iface" ]; then
        iface="$(ip -o route get "$addr" 2>/dev/null | sed -n 's/.* dev \([^ ]*\).*/\1/p')"
    fi
    if [ -z "$iface" ] || [ "$iface" = lo ]; then
        say "network: no interface holds $node's address $addr; MPI, Gloo and NCCL choose their interfaces themselves"
        return 0
    fi
    NODE_ADDR="$addr" NODE_IFACE="$iface"
    [ "${SLURM_JOB_NUM_NODES:-1}" -gt 1 ] || return 0
    local kept=()
    if [ -n "${OMPI_MCA_btl_tcp_if_include:-}${OMPI_MCA_btl_tcp_if_exclude:-}" ]; then
        kept+=(OMPI_MCA_btl_tcp_if_include/exclude)
    else
        export OMPI_MCA_btl_tcp_if_include="$iface"
    fi
    if [ -n "${HOROVOD_GLOO_IFACE:-}" ]; then kept+=(HOROVOD_GLOO_IFACE); else export HOROVOD_GLOO_IFACE="$iface"; fi
    if [ -n "${NCCL_SOCKET_IFNAME:-}" ]; then kept+=(NCCL_SOCKET_IFNAME); else export NCCL_SOCKET_IFNAME="$iface"; fi
    say "network: interface $iface ($node's Slurm address $addr) for MPI, Gloo and NCCL${kept:+; yours kept: ${kept[*]}}"
}

failed_nodes() {
    sinfo -h -N -n "${SLURM_JOB_NODELIST:-}" -t down,fail,no_respond -o %N 2>/dev/null | sort -u | paste -sd, -
}
