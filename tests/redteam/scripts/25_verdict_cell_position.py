# channel: which cell a disclosure check names, chosen by a value
# allowed:
import pandas as pd
import tre_sdk

df = tre_sdk.load_dataset("admissions")
counts = [15] * 20
counts[int(df.iloc[0]["age"]) % 20] = 3
table = pd.DataFrame({"group": [f"g{n}" for n in range(20)], "n": counts}).set_index("group")
tre_sdk.save_table("counts", table, kind="frequency")
