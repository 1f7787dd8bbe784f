using System.CommandLine;

// tinyokv — Tinyo's Raft-replicated key-value store.
var root = new RootCommand("tinyokv — Tinyo's Raft-replicated key-value store.");
return root.Parse(args).Invoke();
