using static Tinyo.Rt.Network.Direct.BpfAssembler;
using static Tinyo.Rt.Network.Direct.ShortcutLayout;

namespace Tinyo.Rt.Network.Direct;

/// <summary>
/// The <c>BPF_PROG_TYPE_SOCK_OPS</c> program of a cluster's cgroup: records each established IPv4 TCP socket of the
/// cluster (both ends: the connecting one and the accepted one) in the cluster's sockhash, which puts the socket under
/// the sk_msg program (<see cref="SkMsgProgram"/>). Sockets whose peer is outside the cluster's subnet are left alone
/// (they could never be redirected, and a socket in a sockhash costs a little on every send).
/// </summary>
internal static class SockOpsProgram
{
    /// <summary>The name the kernel shows for it (BPF_OBJ_GET_INFO).</summary>
    public const string Name = "tinyo_sockops";

    /// <summary>Builds it for the maps behind <paramref name="sockhashFd"/> and <paramref name="countersFd"/>;
    /// <paramref name="subnet"/>: the cluster's (network-order address, mask) as the kernel holds them, or null for any peer.</summary>
    public static byte[] Build(int sockhashFd, int countersFd, (uint Network, uint Mask)? subnet)
    {
        var a = new BpfAssembler();
        a.MovReg(R6, R1); // r6 = ctx, kept across calls
        a.LoadWord(R2, R6, OpsOp);
        a.JumpIfEqual(R2, ActiveEstablished, "established");
        a.JumpIfNotEqual(R2, PassiveEstablished, "out");
        a.Label("established");
        a.LoadWord(R2, R6, OpsFamily);
        a.JumpIfNotEqual(R2, Inet, "out");
        a.LoadWord(R2, R6, OpsRemoteIp4);
        if (subnet is { } s)
        {
            a.And32(R2, unchecked((int)s.Mask));
            a.JumpIfNotEqual32(R2, unchecked((int)s.Network), "out");
            a.LoadWord(R2, R6, OpsRemoteIp4);
        }
        a.StoreWord(R10, -12, R2);         // key.remote_ip4
        a.LoadWord(R2, R6, OpsLocalIp4);
        a.StoreWord(R10, -16, R2);         // key.local_ip4
        a.LoadWord(R2, R6, OpsLocalPort);
        a.StoreWord(R10, -8, R2);          // key.local_port (host order already)
        a.LoadWord(R2, R6, OpsRemotePort);
        a.Rsh32(R2, 16);
        a.ToBigEndian16(R2);
        a.StoreWord(R10, -4, R2);          // key.remote_port, to host order
        a.MovReg(R1, R6);
        a.LoadMap(R2, sockhashFd);
        a.MovReg(R3, R10);
        a.Add(R3, -16);
        a.Mov(R4, Any);
        a.Call(SockHashUpdate);
        a.JumpIfNotEqual(R0, 0, "failed");
        Count(a, countersFd, SocketsSlot, 0, null, "out");
        a.Goto("out");
        a.Label("failed");
        Count(a, countersFd, SocketsSlot, 8, null, "out");
        a.Label("out");
        a.Mov(R0, 1);
        a.Exit();
        return a.Build();
    }
}
