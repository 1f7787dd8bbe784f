using System.CommandLine;

// tio — the Tinyo CLI: set up nodes, apply statefiles, manage containers, users and secrets.
var root = new RootCommand("tio — the Tinyo CLI: set up nodes, apply statefiles, manage containers, users and secrets.");
return root.Parse(args).Invoke();
