"""datetime, date, time, timedelta and fixed-offset timezones; results returned as str/tuples."""
import datetime as dt

from .harness import case, conformance_tests

UTC = dt.timezone.utc
PLUS2 = dt.timezone(dt.timedelta(hours=2), "PLUS2")
DATES = [dt.date(2000, 1, 1), dt.date(2024, 2, 29), dt.date(1999, 12, 31), dt.date(1, 1, 1), dt.date(9999, 12, 31)]
STAMPS = [
    dt.datetime(2024, 2, 29, 12, 30, 45, 123456),
    dt.datetime(1970, 1, 1, tzinfo=UTC),
    dt.datetime(2038, 1, 19, 3, 14, 7, tzinfo=PLUS2),
    dt.datetime(2000, 12, 31, 23, 59, 59, 999999),
]
# strptime imports _strptime on first use; imports belong to the main thread, so do it here.
dt.datetime.strptime("2000", "%Y")
ISO = ["2024-02-29", "2024-02-29T12:30:45", "2024-02-29T12:30:45.123456+02:00", "1999-12-31 23:59", "bad"]


@case(DATES)
def date_fields_and_weekday(d):
    return d.year, d.month, d.day, d.weekday(), d.isoweekday(), tuple(d.isocalendar()), d.toordinal()


@case(DATES)
def date_isoformat_strftime(d):
    return d.isoformat(), d.strftime("%Y/%m/%d %a %b %j"), str(d), repr(d), d.ctime()


@case(DATES)
def date_arithmetic(d):
    out = []
    for days in (1, -1, 365, 10000):
        try:
            out.append((d + dt.timedelta(days=days)).isoformat())
        except OverflowError as e:
            out.append("OverflowError: " + str(e))
    return out, (d - dt.date(2000, 1, 1)).days


@case(DATES)
def date_replace_and_compare(d):
    e = d.replace(day=1)
    return e.isoformat(), e <= d, d == dt.date.fromordinal(d.toordinal()), max(d, e).isoformat()


@case(STAMPS)
def datetime_fields_and_isoformat(t):
    return t.isoformat(), t.isoformat(sep=" ", timespec="milliseconds"), t.timetuple()[:6], t.microsecond, str(t.tzinfo)


@case(STAMPS)
def datetime_timezone_conversion(t):
    aware = t if t.tzinfo else t.replace(tzinfo=UTC)
    return aware.astimezone(UTC).isoformat(), aware.astimezone(PLUS2).isoformat(), aware.utcoffset().total_seconds()


@case(STAMPS)
def datetime_timezone_made_in_callback(t):
    tz = dt.timezone(dt.timedelta(hours=-5, minutes=-30), "Local-5:30")
    aware = t if t.tzinfo else t.replace(tzinfo=UTC)
    local = aware.astimezone(tz)
    return local.isoformat(), local.tzname(), local.strftime("%H:%M %z %Z")


@case(STAMPS)
def datetime_timestamp_roundtrip(t):
    aware = t if t.tzinfo else t.replace(tzinfo=UTC)
    ts = aware.timestamp()
    return ts, dt.datetime.fromtimestamp(ts, UTC).isoformat()


@case(STAMPS)
def datetime_arithmetic_and_timedelta(t):
    later = t + dt.timedelta(days=1, hours=25, minutes=61, seconds=3661, microseconds=1)
    delta = later - t
    return later.isoformat(), delta.days, delta.seconds, delta.microseconds, delta.total_seconds(), str(delta)


@case(STAMPS)
def datetime_strftime_many_codes(t):
    return t.strftime("%a %A %b %B %c %d %f %H %I %j %m %M %p %S %U %w %W %x %X %y %Y %%")


@case(ISO)
def datetime_fromisoformat_caught(s):
    try:
        return dt.datetime.fromisoformat(s).isoformat()
    except ValueError as e:
        return "ValueError: " + str(e)


@case(["2024-02-29 12:30", "31/12/1999 23:59", "nonsense"])
def datetime_strptime(s):
    for fmt in ("%Y-%m-%d %H:%M", "%d/%m/%Y %H:%M"):
        try:
            return dt.datetime.strptime(s, fmt).isoformat()
        except ValueError:
            pass
    return None


@case([0, 1, -1, 86399, 10**9])
def timedelta_normalisation(secs):
    d = dt.timedelta(seconds=secs, milliseconds=-1)
    return d.days, d.seconds, d.microseconds, str(d), repr(d), str(-d), str(abs(d) * 2), str(d // 3)


@case([dt.time(0, 0), dt.time(23, 59, 59, 999999), dt.time(12, 0, tzinfo=PLUS2)])
def time_objects(t):
    return t.isoformat(), t.strftime("%I:%M %p"), t.replace(hour=1).isoformat(), str(t.utcoffset())


@case(DATES)
def date_ranges_and_calendar(d):
    start = d.replace(day=1)
    days = []
    cur = start
    while cur.month == start.month and len(days) < 31:
        days.append(cur.day)
        try:
            cur += dt.timedelta(days=1)
        except OverflowError:
            break
    return len(days), days[-1]


@case(STAMPS)
def datetime_hash_and_sorting(t):
    aware = t if t.tzinfo else t.replace(tzinfo=UTC)
    others = [aware, aware + dt.timedelta(seconds=1), aware - dt.timedelta(days=1)]
    return [x.isoformat() for x in sorted(others)], hash(aware) == hash(aware.astimezone(PLUS2))


Conformance = conformance_tests(__name__)
