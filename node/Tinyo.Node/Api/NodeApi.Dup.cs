using System.Text.Json;
using System.Text.Json.Nodes;
using Tinyo.Api;
using Tinyo.Node.Http;
using Tinyo.Node.Store;

namespace Tinyo.Node.Api;

/// <summary>
/// <c>POST /v1/apps/NAME/dup {count}</c> (<c>tio dup APP -n N</c>): raises the app's <c>replicas</c> in the desired
/// state by N, so the reconciler keeps the new replicas as it keeps the others; its scale-up duplicates a running,
/// healthy replica (<see cref="Reconcile.ReplicaDuplicate"/>) and starts from the image when none runs. The record is
/// changed by compare-and-swap (<see cref="DesiredApps.UpdateAsync"/>), so an apply running at the same moment is
/// never undone. Re-applying the app's statefile sets the count back to the file's: the file is the desired state,
/// <c>tio dup</c> a change on top of it until the file is applied again (docs/architecture.md, "Duplication").
/// </summary>
public sealed partial class NodeApi
{
    /// <summary>The most replicas an app has (the statefile's limit).</summary>
    private const int MaxReplicas = 1000;

    private async Task<HttpResponse> DupAsync(HttpRequest req, string app, string by, CancellationToken ct)
    {
        ValidName(app, "app");
        var body = Body(req, J.DupRequest);
        if (body.Count is < 1 or > MaxReplicas) throw new BadRequest(400, $"count {body.Count} is out of range: 1 to {MaxReplicas}");
        // The replica the reconciler will duplicate: the lowest running, healthy one this node reports.
        string? from = null;
        foreach (var (_, st) in await store.ListAsync(Keys.Status, J.AppStatus, ct))
            if (st.App == app)
                foreach (var c in st.Containers.OrderBy(c => c.Name, StringComparer.Ordinal))
                    if (from is null && c.State == "running" && (c.Health is null or "healthy")) from = c.Name;
        // Compare-and-swap on the app's record: an apply (or another dup) that writes it between our read and our
        // write makes us read again and add the count to what it wrote, never write back the spec it replaced.
        (AppRecord Before, AppRecord After)? done;
        try
        {
            done = await new DesiredApps(store, options.Log).UpdateAsync(app, rec => WithReplicas(app, rec, body.Count), ct);
        }
        catch (NodeException e)
        {
            throw new BadRequest(409, e.Message, "conflict");
        }
        if (done is not { } d) return Err(404, $"no app named {app}", "not_found");
        int before = d.Before.Spec.Replicas, after = d.After.Spec.Replicas;
        options.Log($"app {app}: {by} added {body.Count} replicas ({before} → {after}){(from is null ? "" : ", duplicated from " + from)}");
        return Ok(new DupResponse(app, before, after, from), J.DupResponse);
    }

    /// <summary>The record with <paramref name="count"/> more replicas (refused past <see cref="MaxReplicas"/>).</summary>
    private static AppRecord WithReplicas(string app, AppRecord rec, int count)
    {
        int before = rec.Spec.Replicas, after = before + count;
        if (after > MaxReplicas) throw new BadRequest(400, $"app {app} has {before} replicas: {count} more would exceed {MaxReplicas}");
        // AppSpec is immutable: the new count goes in through its JSON, the one form the KV holds anyway.
        var node = JsonSerializer.SerializeToNode(rec, J.AppRecord) as JsonObject ?? throw new BadRequest(500, $"app {app}: unreadable record");
        node["spec"]!["replicas"] = after;
        node["updated"] = DateTimeOffset.UtcNow.ToString("O", System.Globalization.CultureInfo.InvariantCulture);
        return node.Deserialize(J.AppRecord) ?? throw new BadRequest(500, $"app {app}: unreadable record");
    }
}
