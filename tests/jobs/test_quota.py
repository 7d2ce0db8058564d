"""Quotas are counted atomically: concurrent submits can never pass them."""

from concurrent.futures import ThreadPoolExecutor

from app.catalog.models import AccessPolicy
from app.catalog.service import QuotaExceeded, consume_quota
from app.core.db import new_session, utcnow


def test_twenty_concurrent_submits_against_a_quota_of_five(db, user):
    policy = AccessPolicy(principal=user.email, model_name="m", daily_quota=5, monthly_quota=None)
    db.add(policy)
    db.commit()

    def submit(_):
        with new_session() as session:
            try:
                consume_quota(session, user=user, policy=policy, now=utcnow())
                session.commit()
                return True
            except QuotaExceeded:
                session.rollback()
                return False

    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(submit, range(20)))
    assert results.count(True) == 5


def test_monthly_quota_and_retry_after(db, user):
    policy = AccessPolicy(principal="*", model_name="m", daily_quota=None, monthly_quota=1)
    db.add(policy)
    db.commit()
    consume_quota(db, user=user, policy=policy, now=utcnow())
    db.commit()
    try:
        consume_quota(db, user=user, policy=policy, now=utcnow())
    except QuotaExceeded as exc:
        assert exc.period == "monthly" and 0 < exc.retry_after_seconds <= 31 * 86400 + 1
    else:
        raise AssertionError("quota not enforced")
