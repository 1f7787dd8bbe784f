using System.CommandLine;

// tinyort: the Tinyo container runtime. Verbs live in Commands/, one file per verb; this file only wires them.
var root = new RootCommand("tinyort — the Tinyo container runtime: pull images, run containers, OCI runtime CLI.");
return root.Parse(args).Invoke();
