using System.CommandLine;

namespace Tinyo.Kv.Cli.Commands;

/// <summary>tinyokv member list|add|remove: membership, one change at a time.</summary>
internal static class MemberCommand
{
    public static Command Create()
    {
        var cmd = new Command("member", "List, add, remove or promote members");
        var list = new Command("list", "List members, then learners (serve --learner: not Raft members)");
        Common.Run(list, async (pr, ct) =>
        {
            await using var client = Common.Client(pr);
            var members = (await client.MemberListAsync(ct)).ToList();
            if (Common.Json(pr)) Common.PrintJson(members, CliJson.Default.ListMemberInfo);
            else
                foreach (var m in members)
                    Console.WriteLine($"{m.Name}, {(m.Learner ? "-" : m.PeerAddress)}, {m.ClientAddress}, {m.Status}{(m.IsLeader ? ", leader" : "")}{(m.Standby ? ", standby" : "")}{(m.Learner ? ", learner" : "")}");
            return 0;
        });

        var peer = new Argument<string>("peer-address") { Description = "The member's Raft address (ip:port)" };
        var addStandby = new Option<bool>("--standby") { Description = "The member runs as a standby (serve --standby): never leader" };
        var add = new Command("add", "Add a running member started without --bootstrap") { peer, addStandby };
        Common.Run(add, async (pr, ct) =>
        {
            Protocol.Endpoints.Parse(pr.GetValue(peer)!);
            await using var client = Common.Client(pr);
            await client.MemberAddAsync(pr.GetValue(peer)!, pr.GetValue(addStandby), ct);
            Console.WriteLine($"member {pr.GetValue(peer)} added{(pr.GetValue(addStandby) ? " as a standby" : "")}");
            return 0;
        });

        var remove = new Command("remove", "Remove a member (for a running member prefer `member leave`)") { peer };
        Common.Run(remove, async (pr, ct) =>
        {
            Protocol.Endpoints.Parse(pr.GetValue(peer)!);
            await using var client = Common.Client(pr);
            await client.MemberRemoveAsync(pr.GetValue(peer)!, ct);
            Console.WriteLine($"member {pr.GetValue(peer)} removed");
            return 0;
        });
        var leave = new Command("leave",
            "Graceful leave of the member at --endpoints (one address): it steps down if it leads, is removed by the new leader, and stops");
        Common.Run(leave, async (pr, ct) =>
        {
            await using var client = Common.Client(pr);
            await client.MemberLeaveAsync(ct);
            Console.WriteLine($"member {pr.GetValue(Common.Endpoints)} left the group");
            return 0;
        });
        var learnerName = new Argument<string>("name") { Description = "The learner's name (as member list shows it)" };
        var promote = new Command("promote",
            "Promote a learner (started with --listen-peer) to a voting member once it has caught up; it keeps its client address")
        { learnerName };
        Common.Run(promote, async (pr, ct) =>
        {
            await using var client = Common.Client(pr);
            await client.MemberPromoteAsync(pr.GetValue(learnerName)!, ct);
            Console.WriteLine($"learner {pr.GetValue(learnerName)} promoted to a member");
            return 0;
        });
        cmd.Subcommands.Add(list);
        cmd.Subcommands.Add(promote);
        cmd.Subcommands.Add(leave);
        cmd.Subcommands.Add(add);
        cmd.Subcommands.Add(remove);
        return cmd;
    }
}
