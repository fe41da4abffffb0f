# corpus-expect: error
# nothing but comments

