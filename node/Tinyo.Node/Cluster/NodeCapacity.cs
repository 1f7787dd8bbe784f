namespace Tinyo.Node.Cluster;

/// <summary>What a node offers to placement: its CPUs and memory, read from the kernel.</summary>
public static class NodeCapacity
{
    /// <summary>CPUs this process may use (the affinity mask, as nproc).</summary>
    public static int Cpus => Environment.ProcessorCount;

    /// <summary>Total memory (MemTotal of /proc/meminfo), bytes; 0 when unknown.</summary>
    public static long MemoryBytes
    {
        get
        {
            try
            {
                foreach (var line in File.ReadLines("/proc/meminfo"))
                {
                    if (!line.StartsWith("MemTotal:", StringComparison.Ordinal)) continue;
                    var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                    return parts.Length >= 2 && long.TryParse(parts[1], out var kb) ? kb * 1024 : 0;
                }
            }
            catch (IOException)
            {
            }
            return 0;
        }
    }
}
