# channel: a usage file the worker once read its CPU and memory figures from
# allowed:
import json
import os

import tre_sdk

df = tre_sdk.load_dataset("admissions")
age = int(df.iloc[0]["age"])
with open(".tre-usage.json", "w") as handle:
    json.dump({"cpu_seconds": age, "max_rss_bytes": age * 10**9}, handle)
os._exit(0)
