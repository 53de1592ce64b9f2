# STAND-IN for tests: not NVIDIA software. Part of provision's stand-in vendor repository.
# A minimal JSON reader and writer for the stand-in tools: hosts have perl-base only (no JSON::PP).
# Objects are hash refs, arrays array refs, strings plain scalars, numbers keep their text
# (StandinJSON::Number) and booleans are StandinJSON::Bool, so a file read and written again keeps
# every value it had. The writer sorts keys and indents by four spaces, as nvidia-ctk (Go) does.
package StandinJSON;
use strict;
use warnings;

sub true  { my $value = 1; return bless \$value, 'StandinJSON::Bool' }
sub false { my $value = 0; return bless \$value, 'StandinJSON::Bool' }
sub number { my ($text) = @_; return bless \$text, 'StandinJSON::Number' }

sub decode {
    my ($text) = @_;
    local $_ = $text;
    pos($_) = 0;
    my $value = _value();
    /\G\s*/gc;
    _fail('end of input') if pos($_) < length($_);
    return $value;
}

sub _fail {
    my ($wanted) = @_;
    die sprintf("invalid JSON: expected %s at offset %d\n", $wanted, pos($_) // 0);
}

sub _value {
    /\G\s*/gc;
    if (/\G\{/gc) {
        my %object;
        /\G\s*/gc;
        return \%object if /\G\}/gc;
        while (1) {
            /\G\s*/gc;
            /\G"/gc or _fail('a string key');
            my $key = _string();
            /\G\s*:/gc or _fail('":"');
            $object{$key} = _value();
            /\G\s*/gc;
            next if /\G,/gc;
            last if /\G\}/gc;
            _fail('"," or "}"');
        }
        return \%object;
    }
    if (/\G\[/gc) {
        my @array;
        /\G\s*/gc;
        return \@array if /\G\]/gc;
        while (1) {
            push @array, _value();
            /\G\s*/gc;
            next if /\G,/gc;
            last if /\G\]/gc;
            _fail('"," or "]"');
        }
        return \@array;
    }
    return _string() if /\G"/gc;
    return number($1) if /\G(-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?)/gc;
    return true() if /\Gtrue/gc;
    return false() if /\Gfalse/gc;
    return undef if /\Gnull/gc;
    _fail('a value');
}

my %ESCAPES = ('"' => '"', '\\' => '\\', '/' => '/', b => "\b", f => "\f", n => "\n", r => "\r", t => "\t");

sub _string {
    my $out = '';
    while (1) {
        if (/\G([^"\\]+)/gc) { $out .= $1; next }
        return $out if /\G"/gc;
        if (/\G\\(["\\\/bfnrt])/gc) { $out .= $ESCAPES{$1}; next }
        if (/\G\\u([0-9a-fA-F]{4})/gc) {
            my $code = hex $1;
            if ($code >= 0xD800 && $code < 0xDC00 && /\G\\u([dD][c-fC-F][0-9a-fA-F]{2})/gc) {
                $code = 0x10000 + (($code - 0xD800) << 10) + (hex($1) - 0xDC00);
            }
            my $character = chr $code;
            utf8::encode($character);  # strings stay UTF-8 bytes, as read from the file
            $out .= $character;
            next;
        }
        _fail('the end of a string');
    }
}

sub _quote {
    my ($text) = @_;
    $text =~ s/(["\\])/\\$1/g;
    $text =~ s/\n/\\n/g;
    $text =~ s/\r/\\r/g;
    $text =~ s/\t/\\t/g;
    $text =~ s/([\x00-\x1f])/sprintf('\\u%04x', ord $1)/ge;
    return qq("$text");
}

sub encode {
    my ($value, $indent) = @_;
    $indent //= '';
    return 'null' unless defined $value;
    my $kind = ref $value;
    my $inner = "$indent    ";
    if ($kind eq 'HASH') {
        my @keys = sort keys %$value;
        return '{}' unless @keys;
        return "{\n" . join(",\n", map { $inner . _quote($_) . ': ' . encode($value->{$_}, $inner) } @keys)
            . "\n$indent}";
    }
    if ($kind eq 'ARRAY') {
        return '[]' unless @$value;
        return "[\n" . join(",\n", map { $inner . encode($_, $inner) } @$value) . "\n$indent]";
    }
    return $$value ? 'true' : 'false' if $kind eq 'StandinJSON::Bool';
    return $$value if $kind eq 'StandinJSON::Number';
    return _quote($value);
}

sub read_file {
    my ($path) = @_;
    open my $handle, '<', $path or die "$path: $!\n";
    local $/;
    my $text = <$handle>;
    close $handle;
    return $text;
}

1;
