using static Tinyo.Rt.Network.Direct.BpfAssembler;
using static Tinyo.Rt.Network.Direct.ShortcutLayout;

namespace Tinyo.Rt.Network.Direct;

/// <summary>
/// The <c>BPF_PROG_TYPE_SK_MSG</c> program attached to a cluster's sockhash: on every send of a socket in the map, it
/// looks for the peer's socket in the same map (the mirror key) and, when there, hands the bytes straight to the
/// peer's receive queue (<c>bpf_msg_redirect_hash</c> with <c>BPF_F_INGRESS</c>): no TCP segments, no veth, no bridge.
/// No peer in this map (another cluster's socket, a peer outside the node): the message takes the normal path.
/// </summary>
/// <remarks>One map per cluster is the isolation: a socket of another cluster is never in this map, so no message of
/// this cluster can be redirected into it, nor its messages into ours.</remarks>
internal static class SkMsgProgram
{
    /// <summary>The name the kernel shows for it (BPF_OBJ_GET_INFO).</summary>
    public const string Name = "tinyo_skmsg";

    /// <summary>Builds it for the maps behind <paramref name="sockhashFd"/> and <paramref name="countersFd"/>.</summary>
    public static byte[] Build(int sockhashFd, int countersFd)
    {
        var a = new BpfAssembler();
        a.MovReg(R6, R1); // r6 = ctx
        a.LoadWord(R2, R6, MsgFamily);
        a.JumpIfNotEqual(R2, Inet, "pass");
        a.LoadWord(R2, R6, MsgRemoteIp4);
        a.StoreWord(R10, -16, R2);         // peer's local_ip4 = our remote
        a.LoadWord(R2, R6, MsgLocalIp4);
        a.StoreWord(R10, -12, R2);         // peer's remote_ip4 = our local
        a.LoadWord(R2, R6, MsgRemotePort);
        a.Rsh32(R2, 16);
        a.ToBigEndian16(R2);
        a.StoreWord(R10, -8, R2);          // peer's local_port = our remote, in host order
        a.LoadWord(R2, R6, MsgLocalPort);
        a.StoreWord(R10, -4, R2);          // peer's remote_port = our local
        a.LoadWord(R7, R6, MsgSize);       // r7 = bytes of this message, kept across the call
        a.MovReg(R1, R6);
        a.LoadMap(R2, sockhashFd);
        a.MovReg(R3, R10);
        a.Add(R3, -16);
        a.Mov(R4, Ingress);
        a.Call(MsgRedirectHash);
        a.JumpIfNotEqual(R0, SkPass, "pass"); // no peer here: the normal path
        Count(a, countersFd, MessagesSlot, 0, R7, "pass");
        a.Label("pass");
        a.Mov(R0, SkPass);
        a.Exit();
        return a.Build();
    }
}
