using System.CommandLine;
using Tinyo.Kv.Cli.Commands;

// tinyokv — Tinyo's Raft-replicated key-value store. Verbs live in Commands/, one file per verb.
var root = new RootCommand("tinyokv — Tinyo's Raft-replicated key-value store.")
{
    ServeCommand.Create(),
    PutCommand.Create(),
    GetCommand.Create(),
    DelCommand.Create(),
    TxnCommand.Create(),
    WatchCommand.Create(),
    LeaseCommand.Create(),
    MemberCommand.Create(),
    SnapshotCommand.Create(),
    CompactCommand.Create(),
    StatusCommand.Create(),
    BenchCommand.Create(),
};
root.Options.Add(Common.Endpoints);
root.Options.Add(Common.Token);
root.Options.Add(Common.TokenFile);
root.Options.Add(Common.Output);
root.Options.Add(Common.Timeout);
root.Options.Add(Common.CaCert);
root.Options.Add(Common.Cert);
root.Options.Add(Common.Key);
return await root.Parse(args).InvokeAsync();
