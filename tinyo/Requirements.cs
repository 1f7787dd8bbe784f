using System.Runtime.InteropServices;

namespace Tinyo.MultiCall;

/// <summary>
/// What the binary needs from the host besides itself, checked where a missing piece would otherwise surface as a
/// crash deep inside a daemon.
/// </summary>
/// <remarks>
/// The binary is linked dynamically against glibc (<c>libc.so.6</c>, <c>libm.so.6</c> and the loader: without them it
/// does not start, and the loader's own message names the file). Everything else is opened at run time: .NET loads
/// OpenSSL (<c>libcrypto</c> and <c>libssl</c>, version 3 or 1.1) on the first hash, random key, TLS handshake,
/// PBKDF2 or AES-GCM — and without it the process aborts with a core dump, after the daemon has half started. ICU is
/// not needed (invariant globalization). So the commands that need OpenSSL from their first steps (the daemons'
/// <c>serve</c>, <c>tio ++</c>) check for it first, and <c>tinyo requirements</c> lists the whole set (install.sh
/// runs it before it installs anything).
/// </remarks>
internal static class Requirements
{
    /// <summary>One shared library opened at run time: the sonames .NET tries, in its order, and what it is for.</summary>
    private sealed record Library(string Name, string[] Sonames, string UsedFor);

    private static readonly Library[] RunTime =
    [
        // libcrypto first: libssl cannot be opened without it, and the message should name what is missing.
        new("libcrypto (OpenSSL 3 or 1.1)", ["libcrypto.so.3", "libcrypto.so.1.1"], "hashes, random keys, PBKDF2, AES-GCM"),
        new("libssl (OpenSSL 3 or 1.1)", ["libssl.so.3", "libssl.so.1.1"], "TLS: the node's listener, the KV's ports, registries"),
    ];

    /// <summary>The package that provides OpenSSL 3 on Debian and Ubuntu (named in the error).</summary>
    private const string Package = "libssl3 (Debian, Ubuntu: apt-get install libssl3; Fedora: openssl-libs)";

    /// <summary>Whether <paramref name="program"/> run with <paramref name="args"/> needs OpenSSL from its start.</summary>
    public static bool NeededBy(string program, string[] args) => (program, args) switch
    {
        ("tinyonode" or "tinyokv", ["serve", ..]) => true,
        ("tio", ["++" or "init", ..]) => true,
        _ => false,
    };

    /// <summary>
    /// The first missing run-time library as an error line for <paramref name="program"/>, or null when all are there.
    /// </summary>
    public static string? Missing(string program)
    {
        foreach (var lib in RunTime)
            if (!Opens(lib))
                return $"{program}: {lib.Name} not found ({string.Join(" or ", lib.Sonames)}; needed for {lib.UsedFor}): install {Package}";
        return null;
    }

    /// <summary><c>tinyo requirements</c>: every library the binary needs and whether it is there; 0 when all are.</summary>
    public static int Print()
    {
        var o = Console.Out;
        o.Write("linked (the loader refuses to start without them): libc.so.6, libm.so.6, ld-linux-x86-64.so.2 — present\n");
        int missing = 0;
        foreach (var lib in RunTime)
        {
            bool ok = Opens(lib);
            if (!ok) missing++;
            o.Write($"opened at run time: {lib.Name} [{string.Join(", ", lib.Sonames)}] for {lib.UsedFor} — {(ok ? "present" : "MISSING")}\n");
        }
        // The one program the node runs: nft, for the isolation rules of its cluster networks.
        o.Write($"run by the node: nft (nftables) for cluster networks' isolation — {(OnPath("nft") ? "present" : "missing (apps with `network: host` or `none` still run)")}\n");
        o.Write("not needed: ICU (invariant globalization), the .NET runtime (compiled in), libstdc++\n");
        if (missing > 0) o.Write($"install {Package}\n");
        return missing == 0 ? 0 : 1;
    }

    private static bool OnPath(string program)
    {
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "/usr/sbin:/usr/bin:/sbin:/bin").Split(':'))
            if (dir.Length > 0 && File.Exists(Path.Combine(dir, program))) return true;
        return false;
    }

    private static bool Opens(Library lib)
    {
        foreach (var so in lib.Sonames)
        {
            if (NativeLibrary.TryLoad(so, out var handle))
            {
                NativeLibrary.Free(handle);
                return true;
            }
        }
        return false;
    }
}
