# channel: a huge manifest, only when a value says so
# allowed: job-figures job-outputs release-choices release-items
import json

import tre_sdk

df = tre_sdk.load_dataset("admissions")
size = 30 * 1024**2 if int(df.iloc[0]["age"]) > 50 else 10
with open(".tre-manifest.json", "w") as handle:
    json.dump({"x": {"type": "text", "file": "note.txt", "description": "y" * size}}, handle)
open("note.txt", "w").write("hello")
