using System.CommandLine;
using System.Text.Json;
using Tinyo.Api;

namespace Tinyo.Ctl.Cli.Commands;

/// <summary>tio ls: the apps with their state.</summary>
internal static class LsCommand
{
    public static Command Create()
    {
        var output = new Option<string>("--output", "-o") { Description = "table or json", DefaultValueFactory = _ => "table" };
        output.AcceptOnlyFromAmong("table", "json");
        var cmd = new Command("ls", "List apps: name, image, state, node, cluster address, ports, restarts, last exit, age") { output };
        Common.Run(cmd, async (pr, ct) =>
        {
            var apps = await Common.Client(pr).AppsAsync(ct);
            if (pr.GetValue(output) == "json")
            {
                Console.WriteLine(JsonSerializer.Serialize(apps, ApiJson.Default.ListAppInfo));
                return Exit.Ok;
            }
            Common.Table(["NAME", "IMAGE", "STATE", "NODE", "ADDRESS", "PORTS", "RESTARTS", "LAST EXIT", "AGE"],
                apps.Select(a => new[]
                {
                    a.Name, a.Image, StateText(a), NodeText(a), AddressText(a), string.Join(',', a.Ports), a.Restarts.ToString(),
                    a.Containers is [var only] ? ExitText(only) ?? "-" : a.Containers is { Count: > 1 } ? "(below)" : "-", Common.Age(a.Created),
                }));
            // Problems in full below the table (the column stays narrow): "image not found", "mount source missing"...
            foreach (var a in apps)
                if (a.Error is { } e) Console.WriteLine($"{a.Name}: {e}");
            // Each replica's node, for apps with several; why a replica is pending (no node can take it).
            foreach (var a in apps)
                foreach (var c in a.Containers ?? [])
                    if (c.State == "pending") Console.WriteLine($"{c.Name}: pending: {c.LastError}");
                    else if (a.Containers!.Count > 1 && c.Node is { } n) Console.WriteLine($"{c.Name}: on {n}");
            // Each replica's cluster address, for apps with several.
            foreach (var a in apps)
                if (a.Containers is { Count: > 1 } cs)
                    foreach (var c in cs)
                        if (c.Address is { } addr) Console.WriteLine($"{c.Name}: address {addr}");
            // Which replicas were duplicated (tio dup, scale-up), and from which.
            foreach (var a in apps)
                foreach (var c in a.Containers ?? [])
                    if (c.DuplicatedFrom is { } from) Console.WriteLine($"{c.Name}: duplicated from {from}");
            // The direct network: how each replica's TCP to its cluster on the same node travels (the eBPF shortcut,
            // socket to socket, or veth + bridge and why), and the Unix socket it exposes.
            foreach (var a in apps)
                foreach (var c in a.Containers ?? [])
                {
                    if (c.Path is { } path) Console.WriteLine($"{c.Name}: cluster path {path}");
                    if (c.Socket is { } sock) Console.WriteLine($"{c.Name}: unix socket {sock}");
                }
            // Why replicas of multi-replica apps restarted or stopped: each one's last exit.
            foreach (var a in apps)
                if (a.Containers is { Count: > 1 } cs)
                    foreach (var c in cs)
                        if (ExitText(c) is { } x) Console.WriteLine($"{c.Name}: last exit {x}");
            return Exit.Ok;
        });
        return cmd;
    }

    /// <summary>The node of the replica (one replica, or all on one node), "(below)" for several nodes, "-" for none.</summary>
    internal static string NodeText(AppInfo a)
    {
        var nodes = (a.Containers ?? []).Select(c => c.Node).Where(n => n is not null).Distinct().ToList();
        return nodes.Count switch { 0 => "-", 1 => nodes[0]!, _ => "(below)" };
    }

    /// <summary>The replica's cluster address (one replica), "(below)" for several, "-" for none.</summary>
    internal static string AddressText(AppInfo a)
        => a.Containers is [var only] ? only.Address ?? "-" : a.Containers is { Count: > 1 } cs && cs.Any(c => c.Address is not null) ? "(below)" : "-";

    /// <summary>A replica's last exit — code, signal, OOM kill — or null before any: why it restarted.</summary>
    internal static string? ExitText(ContainerStatus c)
    {
        if (c.ExitCode is not { } code) return null;
        if (c.OomKilled == true) return $"{code} (OOM-killed)";
        if (c.ExitSignal is { } sig and > 0) return $"{code} (signal {sig}{SignalName(sig)})";
        return code.ToString(System.Globalization.CultureInfo.InvariantCulture);
    }

    private static string SignalName(int sig) => sig switch
    {
        1 => " HUP", 2 => " INT", 3 => " QUIT", 6 => " ABRT", 9 => " KILL", 11 => " SEGV", 13 => " PIPE", 15 => " TERM", _ => "",
    };

    /// <summary>running (green), error (red), the rest yellow; several replicas show how many run, e.g. "running 2/3".</summary>
    private static string StateText(AppInfo a)
    {
        var text = a.State;
        if (a.Containers is { Count: > 1 } cs) text += $" {cs.Count(c => c.State == "running")}/{a.Replicas}";
        return a.State switch { "running" => Common.Green(text), "error" => Common.Color ? $"\e[31m{text}\e[0m" : text, _ => Common.Yellow(text) };
    }
}
