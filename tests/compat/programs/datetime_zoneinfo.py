from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo, available_timezones

utc = datetime(2024, 3, 10, 12, 0, tzinfo=timezone.utc)
for tz in ("America/New_York", "Europe/Berlin", "Asia/Kolkata", "Australia/Sydney"):
    local = utc.astimezone(ZoneInfo(tz))
    print(tz, local.isoformat(), local.tzname(), local.utcoffset())
ny = ZoneInfo("America/New_York")
before = datetime(2024, 3, 10, 1, 30, tzinfo=ny)
print((before + timedelta(hours=1)).isoformat())
print(datetime(2024, 11, 3, 1, 30, fold=1, tzinfo=ny).tzname())
print(date(2024, 2, 28) + timedelta(days=1), date(2023, 12, 31).isocalendar())
print(datetime.strptime("2024-07-04 15:30", "%Y-%m-%d %H:%M").strftime("%A %d %B %Y %I%p"))
print(len(available_timezones()) > 300)
print(datetime.fromtimestamp(0, tz=timezone.utc), datetime.fromisoformat("2024-01-02T03:04:05+02:00"))
