# channel: treatments the SDK records, with counts that depend on the data
# allowed:
import pandas as pd
import tre_sdk

df = tre_sdk.load_dataset("admissions")
age = int(df.iloc[0]["age"])
table = pd.DataFrame(
    {"group": [f"g{n}" for n in range(60)], "n": [3 if n < age else 40 for n in range(60)]}
).set_index("group")
tre_sdk.save_table("counts", tre_sdk.suppress_small_cells(table), kind="frequency")
