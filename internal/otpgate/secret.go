package otpgate

import (
	"fmt"
	"strings"
)

// EnvPassword reads a password a URL flag wrote as $NAME (so it stays off
// the command line) from the environment variable NAME with lookupEnv
// (os.LookupEnv); any other password is returned as it is. A variable that
// is not set, or is empty, is an error naming it, not an empty password.
func EnvPassword(pw string, lookupEnv func(string) (string, bool)) (string, error) {
	name, ok := strings.CutPrefix(pw, "$")
	if !ok || lookupEnv == nil {
		return pw, nil
	}
	v, set := lookupEnv(name)
	switch {
	case !set:
		return "", fmt.Errorf("the password is $%s, which is not set in the environment", name)
	case v == "":
		return "", fmt.Errorf("the password is $%s, which is empty in the environment", name)
	}
	return v, nil
}
