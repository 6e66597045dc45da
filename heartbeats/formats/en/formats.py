# A risk desk reads times to the second and dates unambiguously: Django's English defaults ("Nov. 25, 2026,
# 1 p.m.") drop the minutes on the hour and the seconds always, which an audit trail cannot afford.
DATETIME_FORMAT = "Y-m-d H:i:s T"
SHORT_DATETIME_FORMAT = "Y-m-d H:i:s"
DATE_FORMAT = "Y-m-d"
SHORT_DATE_FORMAT = "Y-m-d"
TIME_FORMAT = "H:i:s"
