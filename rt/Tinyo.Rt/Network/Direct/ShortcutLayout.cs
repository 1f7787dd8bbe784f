namespace Tinyo.Rt.Network.Direct;

/// <summary>
/// What the socket shortcut's two programs and its reader agree on: the sockhash key, the counter slots, the kernel's
/// context offsets and helper numbers (from linux/bpf.h; checked by loading the programs on the real kernel in tests).
/// </summary>
/// <remarks>
/// <para>Key (16 bytes): local IPv4, remote IPv4 (both as the kernel holds them, network order), local port, remote
/// port (both in host order). sock_ops stores each established socket under its own view; sk_msg looks up the peer
/// under the mirror view (local and remote swapped), which is the key the peer's socket was stored under.</para>
/// <para>Ports: <c>local_port</c> is host order; <c>remote_port</c> is network order in the upper 16 bits of the
/// 32-bit field on little-endian machines (a quirk of both contexts), so the programs shift it down and swap it.</para>
/// </remarks>
internal static class ShortcutLayout
{
    /// <summary>The sockhash key's size.</summary>
    public const int KeySize = 16;
    /// <summary>Counter slots of the array map (each two u64).</summary>
    public const int SocketsSlot = 0, MessagesSlot = 1, Slots = 2, SlotSize = 16;

    /// <summary>struct bpf_sock_ops offsets.</summary>
    public const short OpsOp = 0, OpsFamily = 20, OpsRemoteIp4 = 24, OpsLocalIp4 = 28, OpsRemotePort = 64, OpsLocalPort = 68;
    /// <summary>struct sk_msg_md offsets.</summary>
    public const short MsgFamily = 16, MsgRemoteIp4 = 20, MsgLocalIp4 = 24, MsgRemotePort = 60, MsgLocalPort = 64, MsgSize = 68;

    /// <summary>BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB, BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB.</summary>
    public const int ActiveEstablished = 4, PassiveEstablished = 5;
    /// <summary>AF_INET.</summary>
    public const int Inet = 2;
    /// <summary>Helpers: bpf_map_lookup_elem, bpf_sock_hash_update, bpf_msg_redirect_hash.</summary>
    public const int MapLookup = 1, SockHashUpdate = 70, MsgRedirectHash = 71;
    /// <summary>SK_PASS; BPF_ANY; BPF_F_INGRESS (deliver to the peer's receive queue, as if it had arrived).</summary>
    public const int SkPass = 1, Any = 0, Ingress = 1;

    /// <summary>Adds 1 to the first u64 of counter slot <paramref name="slot"/> and, when <paramref name="amount"/>
    /// is a register, that register to the second. Clobbers r1–r5 and r0; jumps to <paramref name="done"/>.</summary>
    public static void Count(BpfAssembler a, int countersFd, int slot, short first, byte? amount, string done)
    {
        a.StoreWordImm(BpfAssembler.R10, -20, slot);
        a.LoadMap(BpfAssembler.R1, countersFd);
        a.MovReg(BpfAssembler.R2, BpfAssembler.R10);
        a.Add(BpfAssembler.R2, -20);
        a.Call(MapLookup);
        a.JumpIfEqual(BpfAssembler.R0, 0, done);
        a.Mov(BpfAssembler.R1, 1);
        a.AtomicAdd64(BpfAssembler.R0, first, BpfAssembler.R1);
        if (amount is { } r) a.AtomicAdd64(BpfAssembler.R0, 8, r);
    }
}
