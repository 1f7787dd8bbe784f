using Tinyo.MultiCall;

// tinyo — tio, tinyonode, tinyokv and tinyort in one binary, chosen by the name it was run as (argv[0]), as busybox
// does: `make` installs it as four hard links named after the programs, so every script and test runs them unchanged.
// `tinyo PROGRAM ARGS…` runs one by its name; `tinyo requirements` lists what the host must provide. Any other first
// word goes to the runtime: its hidden verbs (a container's init, a root's exit monitor) and its sealed re-exec start
// this binary by its file's own name.
var name = Programs.NameOf(Environment.GetCommandLineArgs()[0]);
if (Programs.Find(name) is null)
{
    switch (args)
    {
        case [] or ["-h" or "--help" or "help"]:
            Console.Out.Write(Programs.Usage);
            return args is [] ? 2 : 0;
        case ["requirements"]:
            return Requirements.Print();
        case [var first, .. var rest] when Programs.Find(first) is not null:
            (name, args) = (first, rest);
            break;
        default:
            name = "tinyort";
            break;
    }
}
if (Requirements.NeededBy(name, args) && Requirements.Missing(name) is { } missing)
{
    Console.Error.Write(missing + "\n");
    return 127;
}
return Programs.Find(name)!(args);
