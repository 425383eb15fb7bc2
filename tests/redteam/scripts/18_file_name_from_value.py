# channel: a file written straight into the output directory, named by values
# allowed:
import tre_sdk

df = tre_sdk.load_dataset("admissions")
row = df.iloc[0]
with open(f"{row['ward']}-{int(row['age'])}.csv", "w") as handle:
    handle.write("n\n100\n")
