# channel: an output's verdict, pass or fail by a value
# allowed: job-outputs release-choices release-items
import pandas as pd
import tre_sdk

df = tre_sdk.load_dataset("admissions")
small = 3 if int(df.iloc[0]["age"]) > 50 else 30
table = pd.DataFrame({"group": ["a", "b"], "n": [small, 40]}).set_index("group")
tre_sdk.save_table("counts", table, kind="frequency")
