# channel: printing rows plainly
# allowed:
import tre_sdk

df = tre_sdk.load_dataset("admissions")
print(df.head(50))
print(df.iloc[0].to_dict())
