# channel: a deeply nested manifest (the worker's parser must not fall over differently)
# allowed:
import tre_sdk

df = tre_sdk.load_dataset("admissions")
depth = 100_000 if int(df.iloc[0]["age"]) > 50 else 10
with open(".tre-manifest.json", "w") as handle:
    handle.write("[" * depth + "]" * depth)
open("note.txt", "w").write("hello")
