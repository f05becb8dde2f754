package switchcmd

// SetExecve replaces the execve of HandOver until the returned func runs.
func SetExecve(f func(bin string, argv, env []string) error) (restore func()) {
	old := execve
	execve = f
	return func() { execve = old }
}
