# channel: how many outputs there are
# allowed: job-outputs release-choices release-items
import tre_sdk

df = tre_sdk.load_dataset("admissions")
for number in range(int(df.iloc[0]["age"]) % 7):
    tre_sdk.save_text(f"part{number}", "nothing here")
