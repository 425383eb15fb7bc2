# channel: going over a limit (the number of output files) only when a value says so
# allowed: job-status job-reason job-figures job-outputs release-choices release-items
import tre_sdk

df = tre_sdk.load_dataset("admissions")
files = 30 if int(df.iloc[0]["age"]) > 50 else 1
for number in range(files):
    open(f"part{number}.txt", "w").write("x")
