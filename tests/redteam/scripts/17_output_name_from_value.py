# channel: an output's name made of values
# allowed:
import pandas as pd
import tre_sdk

df = tre_sdk.load_dataset("admissions")
row = df.iloc[0]
name = f"w_{row['ward']}_{int(row['age'])}_{str(row['length_of_stay']).replace('.', '_')}"
tre_sdk.save_table(name, pd.DataFrame({"n": [100]}), kind="frequency")
