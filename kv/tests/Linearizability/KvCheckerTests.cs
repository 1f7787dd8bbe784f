namespace Tinyo.Kv.Tests.Linearizability;

/// <summary>The checker itself: it must accept legal histories and reject illegal ones.</summary>
public class KvCheckerTests
{
    [Fact]
    public void AcceptsOverlappingOperationsInSomeLegalOrder()
    {
        // put(a) overlaps get→b and put(b): order put(a), put(b), get(b) is legal.
        KvOp[] ops = [new(0, 10, true, "a"), new(1, 12, true, "b"), new(5, 15, false, "b"), new(20, 25, false, "b")];
        Assert.True(KvChecker.IsLinearizable(ops));
    }

    [Fact]
    public void RejectsAStaleReadAfterANewerWriteCompleted()
    {
        // put(a) done, put(b) done, then a get sees a: impossible.
        KvOp[] ops = [new(0, 1, true, "a"), new(2, 3, true, "b"), new(4, 5, false, "a")];
        Assert.False(KvChecker.IsLinearizable(ops));
    }

    [Fact]
    public void RejectsReadsThatDisagreeOnOrder()
    {
        // Two concurrent puts; one reader sees a then b, another (strictly later) sees a again: not linearizable.
        KvOp[] ops =
        [
            new(0, 10, true, "a"), new(0, 10, true, "b"),
            new(11, 12, false, "a"), new(13, 14, false, "b"), new(15, 16, false, "a"),
        ];
        Assert.False(KvChecker.IsLinearizable(ops));
    }

    [Fact]
    public void APutWithUnknownOutcomeMayOrMayNotHaveHappened()
    {
        KvOp[] applied = [new(0, 1, true, "a"), new(2, long.MaxValue, true, "b"), new(5, 6, false, "b")];
        KvOp[] lost = [new(0, 1, true, "a"), new(2, long.MaxValue, true, "b"), new(5, 6, false, "a")];
        Assert.True(KvChecker.IsLinearizable(applied));
        Assert.True(KvChecker.IsLinearizable(lost));
        Assert.False(KvChecker.IsLinearizable([new(0, 1, true, "a"), new(5, 6, false, "c")]));
    }
}
