# channel: an output's description written inside the sandbox
# allowed:
import pandas as pd
import tre_sdk

df = tre_sdk.load_dataset("admissions")
table = pd.DataFrame({"n": [100]})
tre_sdk.save_table("summary", table, kind="frequency", description=df.head(3).to_csv())
