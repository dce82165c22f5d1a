#include "tests/support/process.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

namespace mob::test {
namespace {

std::vector<char*> c_argv(const std::vector<std::string>& argv) {
  std::vector<char*> out;
  for (const auto& arg : argv) out.push_back(const_cast<char*>(arg.c_str()));
  out.push_back(nullptr);
  return out;
}

void apply_env(const std::map<std::string, std::string>& extra_env) {
  for (const auto& [key, value] : extra_env) setenv(key.c_str(), value.c_str(), 1);
}

}  // namespace

Child::Child(const std::vector<std::string>& argv, const std::filesystem::path& output_file,
             const std::map<std::string, std::string>& extra_env)
    : output_file_(output_file) {
  auto args = c_argv(argv);
  pid_ = fork();
  if (pid_ == 0) {
    setpgid(0, 0);
    int fd = open(output_file.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
      close(fd);
    }
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0) dup2(devnull, 0);
    apply_env(extra_env);
    execv(args[0], args.data());
    _exit(127);
  }
  setpgid(pid_, pid_);
}

Child::Child(Child&& other) noexcept { *this = std::move(other); }

Child& Child::operator=(Child&& other) noexcept {
  if (this != &other) {
    kill_group();
    pid_ = other.pid_;
    status_ = other.status_;
    output_file_ = std::move(other.output_file_);
    other.pid_ = -1;
  }
  return *this;
}

Child::~Child() { kill_group(); }

bool Child::running() {
  if (pid_ <= 0) return false;
  int status = 0;
  pid_t got = waitpid(pid_, &status, WNOHANG);
  if (got == pid_) {
    status_ = status;
    ::kill(-pid_, SIGKILL);  // whatever the group still holds
    pid_ = -1;
    return false;
  }
  return got == 0;
}

void Child::signal(int signo) {
  if (pid_ > 0) ::kill(pid_, signo);
}

int Child::wait(std::chrono::milliseconds timeout) {
  if (pid_ <= 0) return status_;
  if (!wait_until([&] { return !running(); }, timeout)) return -1;
  return status_;
}

void Child::kill_group() {
  if (pid_ <= 0) return;
  ::kill(-pid_, SIGKILL);
  ::kill(pid_, SIGKILL);
  int status = 0;
  waitpid(pid_, &status, 0);
  status_ = status;
  pid_ = -1;
}

std::string Child::output() const { return read_file(output_file_); }

CommandResult run_command(const std::vector<std::string>& argv, std::chrono::milliseconds timeout,
                          const std::string& stdin_text,
                          const std::map<std::string, std::string>& extra_env) {
  TempDir dir;
  auto out_path = dir.path() / "out";
  auto err_path = dir.path() / "err";
  auto in_path = dir.path() / "in";
  {
    std::ofstream in(in_path);
    in << stdin_text;
  }
  auto args = c_argv(argv);
  pid_t pid = fork();
  if (pid == 0) {
    setpgid(0, 0);
    int in = open(in_path.c_str(), O_RDONLY);
    int out = open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int err = open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(in, 0);
    dup2(out, 1);
    dup2(err, 2);
    apply_env(extra_env);
    execv(args[0], args.data());
    _exit(127);
  }
  setpgid(pid, pid);
  CommandResult result;
  int status = 0;
  bool done = wait_until([&] { return waitpid(pid, &status, WNOHANG) == pid; }, timeout);
  if (!done) {
    ::kill(-pid, SIGKILL);
    waitpid(pid, &status, 0);
    result.exit_code = -2;
  } else {
    ::kill(-pid, SIGKILL);  // anything it left behind in its group
    result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
  result.out = read_file(out_path);
  result.err = read_file(err_path);
  return result;
}

bool wait_until(const std::function<bool()>& condition, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    if (condition()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(5ms);
  }
}

static bool port_free(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  close(fd);
  return ok;
}

int free_port_pair() {
  static thread_local std::mt19937 rng(std::random_device{}() ^ static_cast<unsigned>(getpid()));
  std::uniform_int_distribution<int> pick(20000, 29998);
  for (int attempt = 0; attempt < 1000; ++attempt) {
    int port = pick(rng) & ~1;
    if (port_free(port) && port_free(port + 1)) return port;
  }
  return -1;
}

TempDir::TempDir() {
  std::string pattern = (std::filesystem::temp_directory_path() / "mob-test-XXXXXX").string();
  if (mkdtemp(pattern.data()) == nullptr) std::abort();
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

bool process_alive(pid_t pid) {
  auto stat = read_file("/proc/" + std::to_string(pid) + "/stat");
  if (stat.empty()) return false;
  auto close_paren = stat.rfind(')');
  if (close_paren == std::string::npos || close_paren + 2 >= stat.size()) return false;
  char state = stat[close_paren + 2];
  return state != 'Z' && state != 'X';
}

std::vector<pid_t> processes_with_env(const std::string& marker) {
  std::vector<pid_t> out;
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    const auto name = entry.path().filename().string();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    auto environ = read_file(entry.path() / "environ");
    std::string needle = marker;
    std::size_t at = 0;
    bool found = false;
    while (!found && (at = environ.find(needle, at)) != std::string::npos) {
      bool starts = at == 0 || environ[at - 1] == '\0';
      bool ends = at + needle.size() == environ.size() || environ[at + needle.size()] == '\0';
      found = starts && ends;
      at += needle.size();
    }
    pid_t pid = std::stoi(name);
    if (found && process_alive(pid)) out.push_back(pid);
  }
  return out;
}

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

}  // namespace mob::test
