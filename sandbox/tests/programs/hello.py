import sys
print("hello from Python", sys.version_info[0])
