# channel: the SDK's manifest, written by the script: names, kinds, treatments, counts
# allowed:
import json

import pandas as pd
import tre_sdk

df = tre_sdk.load_dataset("admissions")
age = int(df.iloc[0]["age"])
ward = str(df.iloc[0]["ward"])
pd.DataFrame({"mean": [1.5, 2.5]}).to_csv("stats.csv", index=False)
manifest = {
    f"stats_{ward}_{age}": {
        "type": "table",
        "kind": f"kind-{age}",
        "file": "stats.csv",
        "description": f"{ward} {age}",
        "method": "pivot_table",
        "rows": age,
        "columns": [ward],
        "checks": {"cell_counts": [[age * 100], ["many"]], "nk_ratios": [[0.1], [0.1]]},
        "treatments": [f"suppressed {age} cells below 10", f"rounded to base {age}"],
    }
}
with open(".tre-manifest.json", "w") as handle:
    json.dump(manifest, handle)
