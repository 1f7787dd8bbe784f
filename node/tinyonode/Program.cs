using System.CommandLine;

// tinyonode — the Tinyo node daemon: API, users, secrets, reconciles desired state onto the runtime.
var root = new RootCommand("tinyonode — the Tinyo node daemon: API, users, secrets, reconciles desired state onto the runtime.");
return root.Parse(args).Invoke();
